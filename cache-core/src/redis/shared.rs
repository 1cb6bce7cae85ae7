//! `Shared`: a `TtlMap` (L1, this process) in front of a `RedisTier` (L2, the fleet), with a
//! fleet-wide single flight.
//!
//! A memoizing call:
//! 1. L1 hit: returned as from any `TtlMap`; Redis is not asked.
//! 2. L1 miss: the L1 flight (one per key in this process) runs [`SharedMap::fetch`]: a plain
//!    read of the value (for a map without hard limits or refreshes), then the script `FETCH`:
//!    the value if Redis has it, else the lease (`SET NX PX`) if no one holds it, else
//!    "wait".
//! 3. Leader: runs the constructor while a task renews the lease, then `STORE` writes the value
//!    with its TTL (only while it still holds the lease: a `remove` takes it away), releases
//!    the lease and publishes "landed" on the backplane, all in one script.
//! 4. Waiter: waits for "landed" (or a third of the lease, if the message is lost, or the
//!    backplane's next subscription, which may have lost it) and runs `FETCH` again: it gets
//!    the value, or takes the lease over when the leader died.
//!
//! A value fetched from Redis stays in L1 for at most its remaining life in Redis, and with
//! `refresh_after` is due for a refresh that long after its birth there, not its arrival here
//! (see [`refresh_floor`] for how soon at the least). Any Redis failure sends the call down the
//! local path: the constructor runs under the L1 flight alone.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use redis::{RedisError, Script, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RedisTier;
use super::backplane::{self, Invalidate};
use super::naming::{Digest, Naming};
use super::scan;
use super::tier::{Tier, TierError};
use crate::builder::{ExpireAfter, Parts};
use crate::registry::{self, Named};
use crate::{Builder, DefaultHashBuilder, Expiry, Lookup, Stats, TtlMap};

/// A map whose values are shared with every process through a [`RedisTier`]; made by
/// [`Builder::shared`]. What `#[ttl_cached(shared = ...)]` keeps.
///
/// Memoizing calls go this process's map (L1) → Redis (L2) → a fleet-wide single flight; see
/// the [module docs](crate::redis). Cloning a `Shared` is cheap and gives another handle to
/// the same map, as a [`TtlMap`]'s does.
///
/// ```
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
///
/// // No I/O: the tier connects at its first use.
/// let tier = RedisTier::new("redis://127.0.0.1:6379/")?;
/// let quotes = TtlMap::<String, f64>::builder()
///     .ttl(Duration::from_secs(60))
///     .name("quotes")
///     .shared(tier)
///     .build();
/// let handle = quotes.clone(); // the same map
/// assert!(handle.is_empty() && handle.get("ACME").is_none());
/// assert_eq!(handle.stats(), quotes.stats());
/// # Ok::<(), cache_core::redis::TierError>(())
/// ```
pub struct Shared<K, V, S = DefaultHashBuilder> {
    inner: Arc<SharedMap<K, V, S>>,
}

/// The builder of a [`Shared`] map: a [`Builder`] given a tier by [`Builder::shared`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct SharedBuilder<K, V, S = DefaultHashBuilder> {
    parts: Parts<K, V, S>,
    tier: RedisTier,
}

/// An L1 entry: the value, its remaining life and its age in Redis when it came from there,
/// the first 32 bits of its digest (for invalidations, which name digests, not keys) and the
/// backplane's epoch when its fetch started (see backplane.rs). Kept small: 16 bytes beside
/// the value, so a hit reads what a plain map's does.
///
/// 32 bits of digest are enough: they only pick the entries an invalidation drops, and a
/// collision (each other entry has a chance in 4 billion per invalidation) drops another key's
/// entry too, which is then fetched again: never a wrong value, and cheaper than 8 more bytes
/// per entry.
#[derive(Clone)]
struct Stamped<V> {
    value: V,
    /// Milliseconds; 0 for none (the map's own policy).
    life_ms: u32,
    /// Milliseconds since its birth in Redis when fetched (saturating: 49 days); 0 when built
    /// here.
    age_ms: u32,
    epoch: u32,
    digest: u32,
}

// What the doc above promises: a `u64` value and 16 bytes.
const _: () = assert!(size_of::<Stamped<u64>>() == 24);

struct SharedMap<K, V, S> {
    l1: TtlMap<K, Stamped<V>, S>,
    tier: RedisTier,
    tag: u64,
    /// What every Redis key of this map starts with (see [`Naming::value_key_prefix`]).
    key_prefix: String,
    ttl: Duration,
    sliding: bool,
    max_lifetime: Option<Duration>,
    refresh_after: Option<Duration>,
    expire_after: Option<Arc<ExpireAfter<K, V>>>,
    fence: Arc<Fence>,
    counts: Counts,
}

/// What this process's misses of a [`Shared`] map did, since it was built: where each value
/// came from. (Hits are in [`Shared::stats`].)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FleetStats {
    /// Values read from Redis (another process, or an earlier call, had built them).
    pub from_redis: u64,
    /// Values this process built as the fleet's leader, holding the lease.
    pub led: u64,
    /// Misses that waited for another process's leader (each counted once).
    pub waited: u64,
    /// Values built here without Redis: it was down, slow or failing (the breaker was open),
    /// or the key does not serialize.
    pub built_locally: u64,
    /// Values in Redis that no longer deserialized (another type), deleted and built again.
    pub discarded: u64,
}

#[derive(Default)]
struct Counts {
    from_redis: AtomicU64,
    led: AtomicU64,
    waited: AtomicU64,
    built_locally: AtomicU64,
    discarded: AtomicU64,
}

impl Counts {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// This process's invalidations on their way to Redis. While one is, this process's calls do
/// not take from Redis a value it may not have deleted yet: they build it (or wait for whoever
/// does), so a call made after `remove` or `clear` returned never gets the old value back.
#[derive(Default)]
struct Fence {
    /// `clear`s in progress.
    all: AtomicUsize,
    /// `remove`s in progress, by digest, and how many (so a call checks the map only then).
    keys: Mutex<HashMap<Digest, usize>>,
    removing: AtomicUsize,
}

/// A raised fence, lowered when dropped (when its invalidation is done or abandoned).
struct Raised {
    fence: Arc<Fence>,
    digest: Option<Digest>,
}

impl Fence {
    fn raise(self: &Arc<Self>, digest: Option<Digest>) -> Raised {
        match digest {
            None => {
                self.all.fetch_add(1, Ordering::AcqRel);
            }
            Some(digest) => {
                *self.keys.lock().entry(digest).or_default() += 1;
                self.removing.fetch_add(1, Ordering::AcqRel);
            }
        }
        Raised {
            fence: Arc::clone(self),
            digest,
        }
    }

    fn is_up(&self, digest: &Digest) -> bool {
        self.all.load(Ordering::Acquire) > 0
            || (self.removing.load(Ordering::Acquire) > 0 && self.keys.lock().contains_key(digest))
    }
}

impl Drop for Raised {
    fn drop(&mut self) {
        let Some(digest) = self.digest else {
            self.fence.all.fetch_sub(1, Ordering::AcqRel);
            return;
        };
        let mut keys = self.fence.keys.lock();
        if let Some(count) = keys.get_mut(&digest) {
            *count -= 1;
            if *count == 0 {
                keys.remove(&digest);
            }
        }
        self.fence.removing.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<V> Stamped<V> {
    /// A value built here (by this process's lead, or without Redis): born now, kept for the
    /// map's own policy.
    fn built(value: V, digest: &Digest, epoch: u64) -> Self {
        Stamped::fetched(value, None, Duration::ZERO, digest, epoch)
    }

    /// A value from Redis, with its remaining `life` there and its `age`.
    fn fetched(
        value: V,
        life: Option<Duration>,
        age: Duration,
        digest: &Digest,
        epoch: u64,
    ) -> Self {
        let life_ms = life.map_or(0, |life| {
            u32::try_from(life.as_millis()).unwrap_or(u32::MAX).max(1)
        });
        Stamped {
            value,
            life_ms,
            age_ms: u32::try_from(age.as_millis()).unwrap_or(u32::MAX),
            epoch: u32::try_from(epoch).unwrap_or(u32::MAX),
            digest: short(digest),
        }
    }

    fn life(&self) -> Option<Duration> {
        (self.life_ms != 0).then(|| Duration::from_millis(self.life_ms.into()))
    }

    fn age(&self) -> Duration {
        Duration::from_millis(self.age_ms.into())
    }

    /// Whether this value was fetched before the backplane's first subscription, which has
    /// happened by `epoch`: an invalidation sent meanwhile was not heard. (Later subscriptions
    /// drop the entries of the earlier ones at once; see backplane.rs.)
    #[inline]
    fn unheard(&self, epoch: u64) -> bool {
        self.epoch == 0 && epoch > 0
    }
}

/// Whether a read's error says only that the key holds something else: a key of another
/// Redis type (`WRONGTYPE`, alone or from each command of a pipeline, which redis-rs wraps)
/// or a reply of another shape. That is no failure of Redis, and `FETCH` treats the key as
/// absent (and overwrites it).
fn reads_as_absent(error: &RedisError) -> bool {
    if error.kind() == redis::ErrorKind::UnexpectedReturnType {
        return true;
    }
    let errors = error.clone().into_server_errors();
    errors.is_some_and(|errors| {
        !errors.is_empty() && errors.iter().all(|(_, error)| error.code() == "WRONGTYPE")
    })
}

/// The part of a digest an L1 entry keeps (see [`Stamped`]).
fn short(digest: &Digest) -> u32 {
    u32::from_le_bytes(digest[..4].try_into().expect("4 bytes"))
}

impl<K, V, S> Builder<K, V, S, Duration> {
    /// Shares the map's values with every process through `tier`: the result is a
    /// [`Shared`] map. The map's name (see [`name`](Builder::name)) tells it apart from other
    /// maps in Redis, so give it one that is the same in every process and unique among the
    /// tier's maps; an unnamed map is told apart by its key and value types alone.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), cache_core::redis::TierError> {
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    /// use cache_core::redis::RedisTier;
    ///
    /// let tier = RedisTier::new("redis://127.0.0.1:6379/")?;
    /// let quotes = TtlMap::<String, f64>::builder()
    ///     .ttl(Duration::from_secs(60))
    ///     .name("quotes")
    ///     .shared(tier)
    ///     .build();
    /// // Built once in the whole fleet, however many processes ask at once.
    /// let price = quotes.get_or_insert_with_async("ACME", async { 42.0 }).await;
    /// # Ok(()) }
    /// ```
    pub fn shared(self, tier: RedisTier) -> SharedBuilder<K, V, S> {
        SharedBuilder {
            parts: self.into_parts(),
            tier,
        }
    }
}

impl<K, V, S> SharedBuilder<K, V, S>
where
    K: Hash + Eq + Serialize + Send + Sync + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Builds the map. Does no I/O.
    #[must_use = "a map dropped at once caches nothing"]
    pub fn build(self) -> Shared<K, V, S> {
        let Parts {
            ttl,
            options,
            hasher,
            listener,
            expire_after,
            age: _, // None: a `Builder`'s values are born when stored.
        } = self.parts;
        let listed = options.name;
        let name = options.name.unwrap_or_else(std::any::type_name::<(K, V)>);
        let options = crate::builder::Options {
            listed: false,
            ..options
        };
        let sliding = options.expiry == Expiry::Sliding;
        let (max_lifetime, refresh_after) = (options.max_lifetime, options.refresh_after);
        let expire_after = expire_after.map(Arc::new);
        let own_life = expire_after.clone();
        let l1 = TtlMap::from_parts(Parts {
            ttl,
            options,
            hasher,
            listener: listener.map(|listen| -> crate::builder::Listener<K, Stamped<V>> {
                Box::new(move |key, stamped, reason| listen(key, &stamped.value, reason))
            }),
            // The value's own life (if the user gave one) and its remaining life in Redis.
            expire_after: Some(Box::new(move |key, stamped: &Stamped<V>| {
                let own = own_life.as_ref().and_then(|life| life(key, &stamped.value));
                match (own, stamped.life()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })),
            // `refresh_after` counts from the value's birth in Redis, but never comes sooner
            // than `refresh_floor` after its arrival.
            age: refresh_after.map(|after| -> crate::builder::Age<Stamped<V>> {
                let oldest = after.saturating_sub(refresh_floor(after, self.tier.inner.lease()));
                Box::new(move |stamped| stamped.age().min(oldest))
            }),
        });
        // The types too: a value type changed without a version bump is a miss, never bytes
        // decoded as another type.
        let naming = &self.tier.inner.naming;
        let tag = naming.map_tag(name, std::any::type_name::<(K, V)>());
        let inner = Arc::new(SharedMap {
            tag,
            key_prefix: naming.value_key_prefix(tag),
            l1,
            tier: self.tier,
            ttl,
            sliding,
            max_lifetime,
            refresh_after,
            expire_after,
            fence: Arc::default(),
            counts: Counts::default(),
        });
        let weak: Weak<dyn Invalidate> = Arc::downgrade(&inner) as Weak<SharedMap<K, V, S>>;
        inner.tier.inner.backplane.register(inner.tag, weak);
        if let Some(name) = listed {
            let weak: Weak<dyn Named> = Arc::downgrade(&inner) as Weak<SharedMap<K, V, S>>;
            registry::register(name, weak);
        }
        Shared { inner }
    }
}

impl<K, V, S> Shared<K, V, S>
where
    K: Hash + Eq + Serialize + Send + Sync + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Returns the value for `key`: from this process, else from Redis, else built by `init`
    /// once in the whole fleet (other processes asking meanwhile wait for it), then written to
    /// Redis with the map's TTL. If Redis is down or slow, `init` runs here, under this
    /// process's single flight.
    ///
    /// # Panics
    ///
    /// If `init` awaits this map's `key` itself from its own task, which could only wait
    /// forever; a panic of `init` goes on in this call.
    pub async fn get_or_insert_with_async<Q>(&self, key: &Q, init: impl Future<Output = V>) -> V
    where
        Q: ?Sized + Lookup<K> + Sync,
    {
        let init = async { Ok::<_, Infallible>(init.await) };
        match self.try_get_or_insert_with_async(key, init).await {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_insert_with_async`](Self::get_or_insert_with_async) for a fallible
    /// constructor: an `Err` is returned, neither cached nor written to Redis, and the fleet's
    /// waiters for it try again (one of them leading).
    ///
    /// # Errors
    ///
    /// The error of `init`, when this call awaited it. Redis down, slow or wrong never makes
    /// a call fail: it goes on without Redis.
    ///
    /// # Panics
    ///
    /// If `init` awaits this map's `key` itself from its own task, which could only wait
    /// forever; a panic of `init` goes on in this call.
    pub async fn try_get_or_insert_with_async<Q, E>(
        &self,
        key: &Q,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        Q: ?Sized + Lookup<K> + Sync,
    {
        if let Some(value) = self.inner.hit(key) {
            return Ok(value);
        }
        let (mut init, since) = (Some(init), self.inner.epoch());
        loop {
            let fetch = self.inner.fetch_boxed(key, &mut init);
            let stamped = self
                .inner
                .l1
                .try_get_or_insert_with_async(key, fetch)
                .await?;
            if let Some(value) = self.inner.current(key, stamped, since, init.is_some()) {
                return Ok(value);
            }
        }
    }

    /// Like [`try_get_or_insert_with_async`](Self::try_get_or_insert_with_async), but this
    /// process's callers that waited for a failed run get its error too, as with
    /// [`TtlMap::try_get_or_insert_with_shared_async`].
    ///
    /// # Errors
    ///
    /// The error of the constructor of the flight this call led or waited for in this
    /// process, as an `Arc` shared with every caller of that flight. Redis down, slow or
    /// wrong never makes a call fail.
    ///
    /// # Panics
    ///
    /// If `init` awaits this map's `key` itself from its own task, which could only wait
    /// forever; a panic of `init` goes on in this call.
    pub async fn try_get_or_insert_with_shared_async<Q, E>(
        &self,
        key: &Q,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, Arc<E>>
    where
        Q: ?Sized + Lookup<K> + Sync,
        E: Send + Sync + 'static,
    {
        if let Some(value) = self.inner.hit(key) {
            return Ok(value);
        }
        let (mut init, since) = (Some(init), self.inner.epoch());
        loop {
            let fetch = self.inner.fetch_boxed(key, &mut init);
            let l1 = &self.inner.l1;
            let stamped = l1.try_get_or_insert_with_shared_async(key, fetch).await?;
            if let Some(value) = self.inner.current(key, stamped, since, init.is_some()) {
                return Ok(value);
            }
        }
    }

    /// Like [`get_or_insert_with_async`](Self::get_or_insert_with_async) for a constructor that
    /// may find nothing: `None` is returned, neither cached nor written to Redis.
    ///
    /// # Panics
    ///
    /// If `init` awaits this map's `key` itself from its own task, which could only wait
    /// forever; a panic of `init` goes on in this call.
    pub async fn optionally_get_or_insert_with_async<Q>(
        &self,
        key: &Q,
        init: impl Future<Output = Option<V>>,
    ) -> Option<V>
    where
        Q: ?Sized + Lookup<K> + Sync,
    {
        self.try_get_or_insert_with_async(key, async { init.await.ok_or(NoValue) })
            .await
            .ok()
    }

    /// Removes `key` here now and, in the background, from Redis and from every other
    /// process's L1 (through the backplane). Returns this process's value. If Redis refuses
    /// the removal, nothing says so: use [`remove_async`](Self::remove_async) to know.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        Q: ?Sized + Lookup<K>,
    {
        let (old, removal) = self.inner.remove_here(key);
        if let Some(removal) = removal {
            self.inner.tier.inner.detach(|conn| removal.run(conn));
        }
        old
    }

    /// Removes `key` here, from Redis and from every process's L1, and returns once Redis has
    /// deleted it and told the other processes.
    ///
    /// # Errors
    ///
    /// [`TierError::Unavailable`] if Redis could not be told: this process's copy is gone;
    /// Redis and the others keep theirs until they expire, and this process may read Redis's
    /// back (the removal is not tried again: a late one would delete a newer value).
    pub async fn remove_async<Q>(&self, key: &Q) -> Result<(), TierError>
    where
        Q: ?Sized + Lookup<K>,
    {
        let (_, removal) = self.inner.remove_here(key);
        let removal = removal.ok_or(TierError::Unavailable)?;
        self.inner.tier.inner.run(|conn| removal.run(conn)).await
    }

    /// Empties this map here now and, in the background, in Redis and in every other
    /// process's L1.
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// Empties this map here, in Redis and in every process's L1, and returns once Redis has
    /// deleted its keys and told the other processes. A caller that stops waiting does not
    /// stop the clear: it goes on in the background, as [`clear`](Self::clear)'s does.
    ///
    /// # Errors
    ///
    /// [`TierError::Unavailable`] if Redis could not be told: this process's copy is empty,
    /// Redis and the others keep theirs until they expire.
    pub async fn clear_async(&self) -> Result<(), TierError> {
        let raised = self.inner.fence.raise(None);
        self.inner.l1.clear();
        let clear = self.inner.clear_shared();
        // A task of the tier, as a removal is: a caller that stops waiting (a timeout) does
        // not stop the clear halfway, with part of the map left in Redis and the fence down.
        let clear = self.inner.tier.inner.spawn(move |_| async move {
            let _raised = raised;
            clear.await
        });
        match clear {
            Some(clear) => clear.await.unwrap_or(Err(TierError::Unavailable)),
            None => Err(TierError::Unavailable),
        }
    }

    /// This process's value for `key`, without asking Redis.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: ?Sized + Lookup<K>,
    {
        let stamped = self.inner.l1.get(key)?;
        (!stamped.unheard(self.inner.epoch())).then_some(stamped.value)
    }

    /// Whether this process holds a live value for `key` that a call would be given. Like
    /// [`TtlMap::contains_key`], it counts no hit or miss and moves no deadline.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: ?Sized + Lookup<K>,
    {
        let epoch = self.inner.epoch();
        self.inner
            .l1
            .contains_such(key, |stamped| !stamped.unheard(epoch))
    }

    /// The number of entries this process holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.l1.len()
    }

    /// Whether this process holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.l1.is_empty()
    }

    /// This process's counters (its L1: a value fetched from Redis counts as a miss here).
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.l1.stats()
    }

    /// Where this process's misses got their values: Redis, its own lead, another process's
    /// lead, or a local build without Redis.
    #[must_use]
    pub fn fleet_stats(&self) -> FleetStats {
        let counts = &self.inner.counts;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FleetStats {
            from_redis: read(&counts.from_redis),
            led: read(&counts.led),
            waited: read(&counts.waited),
            built_locally: read(&counts.built_locally),
            discarded: read(&counts.discarded),
        }
    }

    /// The tier this map shares its values through.
    #[must_use]
    pub fn tier(&self) -> &RedisTier {
        &self.inner.tier
    }
}

impl<K, V, S> Clone for Shared<K, V, S> {
    fn clone(&self) -> Self {
        Shared {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Shows the options and the tier, never a listener's or `expire_after`'s closure.
impl<K, V, S> std::fmt::Debug for SharedBuilder<K, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options = &self.parts.options;
        f.debug_struct("SharedBuilder")
            .field("ttl", &self.parts.ttl)
            .field("name", &options.name)
            .field("expiry", &options.expiry)
            .field("sweep_every", &options.sweep_every)
            .field("capacity", &options.capacity)
            .field("max_lifetime", &options.max_lifetime)
            .field("refresh_after", &options.refresh_after)
            .field("stale_if_error", &options.stale_if_error)
            .field("expire_after", &self.parts.expire_after.is_some())
            .field("clock", &options.clock)
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

impl<K, V, S> std::fmt::Debug for Shared<K, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("tier", &self.inner.tier)
            .finish_non_exhaustive()
    }
}

/// `None` from an `optionally_` constructor, carried as an error through the L1 flight.
struct NoValue;

/// The Redis part of a `remove`: deleting the value and its lease, and publishing. This
/// process's fence stays up until it is done (or abandoned).
struct Removal {
    _raised: Raised,
    value_key: String,
    channel: String,
    message: Vec<u8>,
}

impl Removal {
    async fn run(self, mut conn: super::tier::Conn) -> redis::RedisResult<()> {
        let lease_key = Naming::lease_key(&self.value_key);
        let mut remove = REMOVE.prepare_invoke();
        remove
            .key(&self.value_key)
            .key(lease_key)
            .arg(&self.channel)
            .arg(&self.message);
        remove.invoke_async(&mut conn).await
    }
}

/// Where a fetch's value comes from, once it has looked.
enum Source<V> {
    /// Redis had it.
    Redis(Stamped<V>),
    /// Built here: Redis is off or failed, or the key does not serialize.
    Local(Digest, u64),
    /// The fleet's flight, for this value key.
    Flight(String, Digest, u64),
}

/// What `FETCH` found.
enum Fetched {
    /// The value's bytes, its remaining life and its age.
    Value(Vec<u8>, Option<Duration>, Duration),
    /// This call holds the lease: build.
    Lead(Lease),
    /// Another process holds it: wait.
    Wait,
}

impl<K, V, S> SharedMap<K, V, S>
where
    K: Hash + Eq + Serialize + Send + Sync + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// The Redis key and digest of `key`; `None` if it does not serialize.
    fn name<Q>(&self, key: &Q) -> Option<(String, Digest)>
    where
        Q: ?Sized + Lookup<K>,
    {
        let digest = self.tier.inner.naming.digest(self.tag, &key.to_key())?;
        Some((Naming::value_key(&self.key_prefix, &digest), digest))
    }

    /// See [`Shared::clear`].
    fn clear(&self) {
        let raised = self.fence.raise(None);
        self.l1.clear();
        let clear = self.clear_shared();
        self.tier.inner.spawn(move |_| async move {
            let _raised = raised;
            let _ = clear.await;
        });
    }

    /// Publishes the clearing, deletes the map's keys in Redis page by page (on every master
    /// of a cluster), each page one bounded operation, then publishes again: the other
    /// processes drop their copies at once, and again once nothing old is left to read back.
    ///
    /// The keys are scanned twice. `SCAN` returns every key that is there for the whole scan,
    /// so the first pass deletes the lease of every leader that held one before the clear
    /// (it cannot store after that); but a leader that stored during the first pass, before
    /// the scan reached its lease, wrote a value the scan may already have passed. That value
    /// is there for the whole second pass, which deletes it.
    fn clear_shared(&self) -> impl Future<Output = Result<(), TierError>> + Send + 'static {
        let tier = Arc::clone(&self.tier.inner);
        let pattern: Arc<str> = tier.naming.map_pattern(self.tag).into();
        let channel: Arc<str> = tier.naming.channel().into();
        let message: Arc<[u8]> = backplane::cleared(self.tag).into();
        async move {
            let publish = || {
                let (channel, message) = (Arc::clone(&channel), Arc::clone(&message));
                tier.run(move |mut conn| async move {
                    redis::cmd("PUBLISH")
                        .arg(&*channel)
                        .arg(&*message)
                        .query_async::<()>(&mut conn)
                        .await
                })
            };
            publish().await?;
            let nodes = tier
                .run(|mut conn| async move { scan::nodes(&mut conn).await })
                .await?;
            for node in nodes.iter().chain(&nodes) {
                let mut cursor = 0;
                loop {
                    let (node, pattern) = (node.clone(), Arc::clone(&pattern));
                    cursor = tier
                        .run(move |mut conn| async move {
                            scan::unlink_page(&mut conn, node.as_ref(), &pattern, cursor).await
                        })
                        .await?;
                    if cursor == 0 {
                        break;
                    }
                }
            }
            publish().await
        }
    }

    /// A plain L1 hit, as cheap as any map's: `None` on a miss, for a value not to serve (see
    /// [`Stamped::unheard`]) and with `refresh_after` (the memoizing call decides refreshes).
    #[inline]
    fn hit<Q>(&self, key: &Q) -> Option<V>
    where
        Q: ?Sized + Lookup<K>,
    {
        if self.refresh_after.is_some() {
            return None;
        }
        let stamped = self.l1.hit(key)?;
        (!stamped.unheard(self.epoch())).then_some(stamped.value)
    }

    /// The backplane's epoch (see backplane.rs).
    #[inline]
    fn epoch(&self) -> u64 {
        self.tier.inner.backplane.epoch()
    }

    /// The value of `stamped`, unless it was fetched before the backplane first subscribed
    /// while this call began after (it may have missed an invalidation; see backplane.rs) and
    /// this call can still fetch: then it is removed and `None` says to look again. A value
    /// that a flight this call joined brings is as fresh as the call, whenever it lands.
    #[inline]
    fn current<Q>(&self, key: &Q, stamped: Stamped<V>, since: u64, can_fetch: bool) -> Option<V>
    where
        Q: ?Sized + Lookup<K>,
    {
        if !stamped.unheard(since) || !can_fetch {
            return Some(stamped.value);
        }
        self.l1.remove(key);
        None
    }

    /// [`fetch`](Self::fetch), boxed when first polled: the L1 polls its constructor only when
    /// it misses, so a hit never builds (nor moves) the large `fetch` future.
    async fn fetch_boxed<Q, E, F>(&self, key: &Q, init: &mut Option<F>) -> Result<Stamped<V>, E>
    where
        Q: ?Sized + Lookup<K>,
        F: Future<Output = Result<V, E>>,
    {
        Box::pin(self.fetch(key, init)).await
    }

    /// Removes `key` from L1, behind a fence raised first (so no call of this process reads
    /// the value back from Redis before it is deleted there), and returns the old value and
    /// the Redis part (`None` if the key does not serialize).
    fn remove_here<Q>(&self, key: &Q) -> (Option<V>, Option<Removal>)
    where
        Q: ?Sized + Lookup<K>,
    {
        let Some((value_key, digest)) = self.name(key) else {
            return (self.l1.remove(key).map(|stamped| stamped.value), None);
        };
        let raised = self.fence.raise(Some(digest));
        let old = self.l1.remove(key).map(|stamped| stamped.value);
        let removal = Removal {
            _raised: raised,
            value_key,
            channel: self.tier.inner.naming.channel(),
            message: backplane::removed(self.tag, &digest),
        };
        (old, Some(removal))
    }

    /// The L1 flight's constructor: Redis, else the fleet's flight, else `init` here. Takes
    /// `init` only when it runs, so a call whose L1 hit turns out stale still has it.
    ///
    /// Only the look in Redis is in this future: the paths that build are boxed when taken,
    /// so an L2 hit's future holds no constructor and stays small (it is boxed per miss).
    async fn fetch<Q, E, F>(&self, key: &Q, init: &mut Option<F>) -> Result<Stamped<V>, E>
    where
        Q: ?Sized + Lookup<K>,
        F: Future<Output = Result<V, E>>,
    {
        let source = self.look(key).await;
        let init = init
            .take()
            .expect("each fetch runs once, with the call's constructor");
        match source {
            Source::Redis(stamped) => Ok(stamped),
            Source::Local(digest, epoch) => Box::pin(self.local(init, digest, epoch)).await,
            Source::Flight(value_key, digest, epoch) => {
                Box::pin(self.fly(key, init, value_key, digest, epoch)).await
            }
        }
    }

    /// Where `key`'s value is to come from: Redis (read here, for a map without limits or
    /// refreshes), this process, or the fleet's flight.
    async fn look<Q>(&self, key: &Q) -> Source<V>
    where
        Q: ?Sized + Lookup<K>,
    {
        let tier = &self.tier.inner;
        let Some((value_key, digest)) = self.name(key) else {
            return Source::Local([0; 16], tier.backplane.epoch());
        };
        if !tier.breaker.allow() {
            return Source::Local(digest, tier.backplane.epoch());
        }
        tier.await_first_subscription().await;
        let epoch = tier.backplane.epoch();
        if self.expire_after.is_none()
            && self.max_lifetime.is_none()
            && self.refresh_after.is_none()
            && !self.fence.is_up(&digest)
        {
            // Without limits or refreshes a hit needs no script, lease, token or waiter: one
            // GETEX when sliding, GET and PTTL in one pipeline when fixed. A miss goes on to
            // FETCH, which looks again atomically.
            match self.read(&value_key).await {
                Err(_) => return Source::Local(digest, epoch),
                Ok(Some((bytes, life))) => {
                    if let Some(value) = decode::<V>(&bytes) {
                        Counts::add(&self.counts.from_redis);
                        // Its age matters only to `refresh_after`, which this map lacks.
                        let stamped = Stamped::fetched(value, life, Duration::ZERO, &digest, epoch);
                        return Source::Redis(stamped);
                    }
                    // Not ours: FETCH finds it again and discards it.
                }
                Ok(None) => {}
            }
        }
        Source::Flight(value_key, digest, epoch)
    }

    /// The fleet's flight for `key` (named `value_key`): `FETCH` takes the value, or the lease
    /// (then this call builds, as the leader), or says to wait for the leader.
    async fn fly<Q, E>(
        &self,
        key: &Q,
        init: impl Future<Output = Result<V, E>>,
        value_key: String,
        digest: Digest,
        epoch: u64,
    ) -> Result<Stamped<V>, E>
    where
        Q: ?Sized + Lookup<K>,
    {
        let tier = &self.tier.inner;
        let lease_key: Arc<str> = Naming::lease_key(&value_key).into();
        let value_key: Arc<str> = value_key.into();
        let token: Arc<str> = new_token().into();
        let mut waited = false;
        loop {
            let waiter = tier.backplane.waiter(digest);
            let mut landed = Box::pin(Arc::clone(&waiter.notify).notified_owned());
            landed.as_mut().enable();
            let fetched = {
                let (value_key, lease_key, token) = (
                    Arc::clone(&value_key),
                    Arc::clone(&lease_key),
                    Arc::clone(&token),
                );
                let lease = millis(tier.lease());
                let slide = if self.sliding { millis(self.ttl) } else { 0 };
                // A value this process may be deleting is not taken (see `Fence`).
                let skip = u8::from(self.fence.is_up(&digest));
                // A refresh (the value is still here) takes a value only if it is younger
                // than `refresh_after`, and rebuilds it otherwise.
                let refresh = match self.refresh_after {
                    Some(after) if self.l1.contains_key(key) => millis(after),
                    _ => 0,
                };
                let claim =
                    Lease::claim(Arc::clone(tier), lease_key.clone(), token.clone(), digest);
                tier.run_here(move |mut conn| async move {
                    // Until its answer is read, this FETCH may have taken the lease: if the
                    // answer is never read (a timeout, a cancelled caller), dropping the claim
                    // releases it, on the same connection, after the FETCH.
                    let reply: Value = FETCH
                        .key(&*value_key)
                        .key(&*lease_key)
                        .arg(&*token)
                        .arg(lease)
                        .arg(slide)
                        .arg(skip)
                        .arg(refresh)
                        .invoke_async(&mut conn)
                        .await?;
                    Ok(fetched(reply, claim))
                })
                .await
            };
            match fetched {
                Err(_) => return self.local(init, digest, epoch).await,
                Ok(Fetched::Value(bytes, life, age)) => match decode::<V>(&bytes) {
                    Some(value) => {
                        Counts::add(&self.counts.from_redis);
                        return Ok(Stamped::fetched(value, life, age, &digest, epoch));
                    }
                    // Another shape (the type changed): delete exactly these bytes, then build.
                    None => {
                        Counts::add(&self.counts.discarded);
                        let value_key = Arc::clone(&value_key);
                        let discarded = tier
                            .run(move |mut conn| async move {
                                DISCARD
                                    .key(&*value_key)
                                    .arg(bytes)
                                    .invoke_async::<()>(&mut conn)
                                    .await
                            })
                            .await;
                        if discarded.is_err() {
                            return self.local(init, digest, epoch).await;
                        }
                    }
                },
                Ok(Fetched::Lead(lease)) => {
                    drop(waiter);
                    return self.lead(key, init, lease, value_key, epoch).await;
                }
                Ok(Fetched::Wait) => {
                    if !waited {
                        waited = true;
                        Counts::add(&self.counts.waited);
                    }
                    // Until the leader's "landed", or a third of the lease if that is lost.
                    let patience = tier.lease() / 3;
                    let waited = tier.spawn(move |_| async move {
                        let _ = tokio::time::timeout(patience, landed).await;
                    });
                    match waited {
                        Some(task) => {
                            let _ = task.await;
                        }
                        None => return self.local(init, digest, epoch).await,
                    }
                }
            }
        }
    }

    /// The value at `value_key` and its remaining life, sliding it with a sliding map; `None`
    /// if there is none (or a key of another Redis type).
    async fn read(
        &self,
        value_key: &str,
    ) -> Result<Option<(Vec<u8>, Option<Duration>)>, TierError> {
        let slide = if self.sliding { millis(self.ttl) } else { 0 };
        self.tier
            .inner
            .run_here(move |mut conn| async move {
                // Sliding, the value's remaining life is the TTL that GETEX just set.
                let read = if slide == 0 {
                    let mut pipe = redis::pipe();
                    pipe.cmd("GET").arg(value_key).cmd("PTTL").arg(value_key);
                    pipe.query_async::<(Option<Vec<u8>>, i64)>(&mut conn).await
                } else {
                    let mut getex = redis::cmd("GETEX");
                    getex.arg(value_key).arg("PX").arg(slide);
                    let bytes = getex.query_async::<Option<Vec<u8>>>(&mut conn).await;
                    bytes.map(|bytes| (bytes, i64::try_from(slide).unwrap_or(i64::MAX)))
                };
                match read {
                    Ok((bytes, pttl)) => Ok(bytes.map(|bytes| (bytes, remaining(pttl)))),
                    // Any error but these (down, LOADING, BUSY, MASTERDOWN, ...) is a
                    // failure of Redis, for the breaker.
                    Err(error) if reads_as_absent(&error) => Ok(None),
                    Err(error) => Err(error),
                }
            })
            .await
    }

    /// The local path: `init` here, under the L1 flight alone, kept for the map's own TTL.
    async fn local<E>(
        &self,
        init: impl Future<Output = Result<V, E>>,
        digest: Digest,
        epoch: u64,
    ) -> Result<Stamped<V>, E> {
        Counts::add(&self.counts.built_locally);
        Ok(Stamped::built(init.await?, &digest, epoch))
    }

    /// Builds the value as the fleet's leader for `digest`, holding the lease.
    async fn lead<Q, E>(
        &self,
        key: &Q,
        init: impl Future<Output = Result<V, E>>,
        mut lease: Lease,
        value_key: Arc<str>,
        epoch: u64,
    ) -> Result<Stamped<V>, E>
    where
        Q: ?Sized + Lookup<K>,
    {
        let tier = &self.tier.inner;
        let digest = lease.digest;
        Counts::add(&self.counts.led);
        let value = init.await?;
        // A hard limit (the value's own life, `max_lifetime`) holds in Redis too, however
        // often it is read there; the TTL alone slides.
        let own = self
            .expire_after
            .as_ref()
            .and_then(|life| life(&key.to_key(), &value));
        let hard = match (own, self.max_lifetime) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let life = hard.map_or(self.ttl, |hard| hard.min(self.ttl));
        if let Ok(bytes) = postcard::to_allocvec(&value)
            && !life.is_zero()
        {
            let channel = tier.naming.channel();
            let message = backplane::landed(&digest);
            let (lease_key, token) = (Arc::clone(&lease.key), Arc::clone(&lease.token));
            let stored = tier
                .run(move |mut conn| async move {
                    STORE
                        .key(&*value_key)
                        .key(&*lease_key)
                        .arg(bytes)
                        .arg(millis(life))
                        .arg(&*token)
                        .arg(channel)
                        .arg(message)
                        .arg(hard.map_or(0, millis))
                        .invoke_async::<()>(&mut conn)
                        .await
                })
                .await;
            // Stored and announced (or Redis is down, and its lease lapses by itself).
            lease.landed = stored.is_ok();
        }
        Ok(Stamped::built(value, &digest, epoch))
    }
}

/// Listed in `caches()` under its name as the map it is: clearing it there clears it in Redis
/// and every process too, as [`Shared::clear`] does.
impl<K, V, S> Named for SharedMap<K, V, S>
where
    K: Hash + Eq + Serialize + Send + Sync + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn stats(&self) -> Stats {
        self.l1.stats()
    }

    fn len(&self) -> usize {
        self.l1.len()
    }

    fn clear(&self) {
        SharedMap::clear(self);
    }

    fn reset_stats(&self) {
        self.l1.reset_stats();
    }
}

impl<K, V, S> Invalidate for SharedMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn invalidate(&self, digests: &[Digest]) {
        let mut shorts: Vec<u32> = digests.iter().map(short).collect();
        shorts.sort_unstable();
        self.l1
            .retain(|_, stamped| shorts.binary_search(&stamped.digest).is_err());
    }

    fn clear_local(&self) {
        self.l1.clear();
    }

    fn forget_before(&self, epoch: u64) {
        self.l1
            .retain(|_, stamped| u64::from(stamped.epoch) >= epoch);
    }
}

/// A lease on a key's flight, claimed before the `FETCH` that may take it: released (the
/// waiters told) on drop unless the value landed or the `FETCH` did not take it, and renewed
/// every third of its length while its leader builds. So a leader that fails, panics or is
/// cancelled, even before it learns it leads, hands over at once instead of after the lease.
struct Lease {
    tier: Arc<Tier>,
    key: Arc<str>,
    token: Arc<str>,
    digest: Digest,
    renewal: Option<tokio::task::JoinHandle<()>>,
    landed: bool,
}

impl Lease {
    fn claim(tier: Arc<Tier>, key: Arc<str>, token: Arc<str>, digest: Digest) -> Self {
        Lease {
            tier,
            key,
            token,
            digest,
            renewal: None,
            landed: false,
        }
    }

    /// Renews the lease every third of its length until dropped.
    fn renew(&mut self) {
        let every = self.tier.lease() / 3;
        let lease = millis(self.tier.lease());
        let timeout = self.tier.timeout();
        let (renewed_key, renewed_token) = (Arc::clone(&self.key), Arc::clone(&self.token));
        self.renewal = self.tier.spawn(move |link| async move {
            loop {
                tokio::time::sleep(every).await; // sleep-ok: the lease renewal period
                let (key, token) = (&*renewed_key, &*renewed_token);
                let renewed = link.run(timeout, |mut conn| async move {
                    let mut renew = RENEW.prepare_invoke();
                    renew.key(key).arg(token).arg(lease);
                    renew.invoke_async::<i64>(&mut conn).await
                });
                match renewed.await {
                    Ok(1) => {}
                    // Lost (removed, or lapsed): the store will not happen; stop.
                    Ok(_) => return,
                    // Redis is failing: keep trying while the constructor runs.
                    _ => {}
                }
            }
        });
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if self.landed {
            return;
        }
        let (key, token) = (Arc::clone(&self.key), Arc::clone(&self.token));
        let channel = self.tier.naming.channel();
        let message = backplane::landed(&self.digest);
        self.tier.detach(move |mut conn| async move {
            let mut release = RELEASE.prepare_invoke();
            release.key(&*key).arg(&*token).arg(channel).arg(message);
            release.invoke_async(&mut conn).await
        });
    }
}

fn fetched(reply: Value, mut claim: Lease) -> Fetched {
    if let Value::Array(items) = &reply
        && let [Value::Int(2)] = items.as_slice()
    {
        claim.renew();
        return Fetched::Lead(claim);
    }
    // Not taken: nothing to release.
    claim.landed = true;
    let Value::Array(items) = reply else {
        return Fetched::Wait;
    };
    match items.as_slice() {
        [
            Value::Int(1),
            Value::BulkString(bytes),
            Value::Int(pttl),
            age,
            ..,
        ] => {
            let life = remaining(*pttl);
            // In Redis's clock, which every process shares; a clock stepped back reads as 0.
            let age = match age {
                Value::Int(age) => {
                    u64::try_from(*age).map_or(Duration::ZERO, Duration::from_millis)
                }
                _ => Duration::ZERO,
            };
            Fetched::Value(bytes.clone(), life, age)
        }
        _ => Fetched::Wait,
    }
}

/// A value's remaining life in Redis from its `PTTL`: none without a TTL (-1); none left if
/// the key is gone (-2), as when it expired between the `GET` and the `PTTL` of one pipeline,
/// which other clients' commands and Redis's own expiry may come between.
fn remaining(pttl: i64) -> Option<Duration> {
    match u64::try_from(pttl) {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) if pttl == -1 => None,
        Err(_) => Some(Duration::ZERO),
    }
}

/// The least time between a fetched value's arrival in L1 and its refresh there: a third of
/// the lease (how often a waiter looks again if a "landed" message is lost), or a quarter of
/// `refresh_after` if that is less.
///
/// Without it, a value fetched already older than `refresh_after` would be due again at once.
/// That is what a refresh gets while another process rebuilds the value (`FETCH` gives it the
/// current one), so every call here would send a `FETCH` until the new value lands; with it,
/// one call per floor does. The price: a value that arrives overdue, or less than the floor
/// before its refresh time, is refreshed a floor after its arrival, up to a floor late. A
/// quarter of `refresh_after`, not all of it, so that with a `refresh_after` shorter than the
/// lease a value's age still counts (up to three quarters of it).
fn refresh_floor(refresh_after: Duration, lease: Duration) -> Duration {
    (lease / 3).min(refresh_after / 4)
}

/// `duration` in whole milliseconds for Redis's `PX`: at least 1, at most about a century
/// (Redis rejects an expiry time that overflows its clock).
fn millis(duration: Duration) -> u64 {
    const CENTURY_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, CENTURY_MS)
}

/// A token no other leader in the fleet holds: this process's random seed and a counter.
fn new_token() -> String {
    static SEED: LazyLock<u64> = LazyLock::new(|| {
        DefaultHashBuilder::default().hash_one((std::process::id(), std::time::SystemTime::now()))
    });
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:016x}",
        *SEED,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

// The scripts. Each touches one value and its lease, which share a slot (see naming.rs).

/// A stored value: its header (see [`HEADER`]) then its postcard bytes.
///
/// The header holds the value's hard deadline and its birth, in Redis's own clock (`TIME`, so
/// every process agrees), as 16 decimal digits each: a deadline of 0 means none.
const HEADER: usize = 32;

/// The value in `bytes` (a header, then postcard), or `None` if they are not one of ours.
fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Option<V> {
    let payload = bytes.get(HEADER..)?;
    postcard::from_bytes(payload).ok()
}

/// KEYS: value, lease. ARGV: token, lease ms, sliding TTL ms (0: fixed), skip (1: do not take
/// the value), refresh ms (0: not a refresh). Returns `{1, bytes, pttl, age}`, `{2}` (lead) or
/// `{3}` (wait).
///
/// A key of another Redis type reads as absent; a value past its hard deadline is deleted; a
/// sliding TTL never moves a value past its deadline; a refresh finding a value at least
/// `refresh` old (or born after Redis's now: a clock stepped back) leads its rebuild if no one
/// else does (else it takes the current value). A lease that is this token's already is
/// kept, as taken: the FETCH was sent again after its connection dropped (see tier.rs).
static FETCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local function now_ms()
            local t = redis.call('TIME')
            return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        -- Takes the lease, or keeps it if it is this token's already: a FETCH sent again
        -- after its connection dropped may have taken it the first time.
        local function claim()
            if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return true end
            if redis.call('GET', KEYS[2]) == ARGV[1] then
                redis.call('PEXPIRE', KEYS[2], ARGV[2])
                return true
            end
            return false
        end
        if ARGV[4] == '0' then
            local ok, v = pcall(redis.call, 'GET', KEYS[1])
            if ok and v then
                local deadline = tonumber(string.sub(v, 1, 16))
                local born = tonumber(string.sub(v, 17, 32))
                if deadline == nil or born == nil then
                    return {1, v, redis.call('PTTL', KEYS[1]), 0}
                end
                local now = now_ms()
                if deadline > 0 and deadline <= now then
                    redis.call('DEL', KEYS[1])
                else
                    local refresh = tonumber(ARGV[5])
                    -- Born after now: the clock was stepped back, and its age is unknown.
                    if refresh > 0 and (now - born >= refresh or born > now) and claim() then
                        return {2}
                    end
                    if ARGV[3] ~= '0' then
                        local px = tonumber(ARGV[3])
                        if deadline > 0 then px = math.min(px, deadline - now) end
                        redis.call('PEXPIRE', KEYS[1], px)
                    end
                    return {1, v, redis.call('PTTL', KEYS[1]), now - born}
                end
            end
        end
        if claim() then return {2} end
        return {3}
        ",
    )
});

/// KEYS: value, lease. ARGV: postcard bytes, TTL ms, token, channel, message, hard limit ms
/// (0: none). Writes the value with its header only if the lease is still this token's, then
/// releases it and publishes.
static STORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[2]) == ARGV[3] then
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local hard = tonumber(ARGV[6])
            local deadline = 0
            if hard > 0 then deadline = now + hard end
            local header = string.format('%016d%016d', deadline, now)
            redis.call('SET', KEYS[1], header .. ARGV[1], 'PX', ARGV[2])
            redis.call('DEL', KEYS[2])
        end
        redis.call('PUBLISH', ARGV[4], ARGV[5])
        return 1
        ",
    )
});

/// KEYS: lease. ARGV: token, lease ms.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        ",
    )
});

/// KEYS: lease. ARGV: token, channel, message.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
        redis.call('PUBLISH', ARGV[2], ARGV[3])
        return 1
        ",
    )
});

/// KEYS: value. ARGV: bytes. Deletes the value only if it is still these bytes.
static DISCARD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local ok, v = pcall(redis.call, 'GET', KEYS[1])
        if not ok or v == ARGV[1] then redis.call('DEL', KEYS[1]) end
        return 1
        ",
    )
});

/// KEYS: value, lease. ARGV: channel, message. Deletes both (a leader still building loses
/// its lease, so its value is not written) and publishes the invalidation.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('DEL', KEYS[1], KEYS[2])
        redis.call('PUBLISH', ARGV[1], ARGV[2])
        return 1
        ",
    )
});

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::remaining;

    #[test]
    fn a_key_gone_between_get_and_pttl_has_no_life_left() {
        assert_eq!(remaining(-2), Some(Duration::ZERO));
        assert_eq!(remaining(-1), None, "no TTL in Redis: the map's own");
        assert_eq!(remaining(0), Some(Duration::ZERO));
        assert_eq!(remaining(1_500), Some(Duration::from_millis(1_500)));
    }
}
