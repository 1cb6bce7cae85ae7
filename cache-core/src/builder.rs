//! Building a `TtlMap`: its options and their defaults.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::time::Duration;

use crate::clock::{Clock, ClockSource};
use crate::{DefaultHashBuilder, Reason, TtlMap};

/// When an entry expires.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Expiry, ManualClock, TtlMap};
///
/// let clock = ManualClock::new();
/// let map = TtlMap::builder()
///     .ttl(Duration::from_secs(60))
///     .expiry(Expiry::Fixed)
///     .clock(clock.clone())
///     .build();
/// map.insert("k", 1);
/// clock.advance(Duration::from_secs(50));
/// assert_eq!(map.get("k"), Some(1)); // a hit does not extend a fixed deadline
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(map.get("k"), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expiry {
    /// Every hit moves the deadline to now + ttl (expire after access).
    ///
    /// To keep hits from writing on every read, the deadline moves only when it would advance
    /// by at least ttl/64: an entry may expire up to ttl/64 earlier than its last hit + ttl.
    #[default]
    Sliding,
    /// The deadline is set when the entry is stored (expire after write).
    Fixed,
}

/// The builder's state before [`Builder::ttl`] is called: a map cannot be built without one.
///
/// ```
/// use std::time::Duration;
/// use cache_core::TtlMap;
///
/// let builder = TtlMap::<String, u32>::builder(); // a Builder<_, _, _, NoTtl>: no `build` yet
/// let map = builder.ttl(Duration::from_secs(1)).build();
/// assert!(map.is_empty());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NoTtl;

pub(crate) type Listener<K, V> = Box<dyn Fn(&K, &V, Reason) + Send + Sync>;

/// A value's own life, declared when it is stored (see [`Builder::expire_after`]).
pub(crate) type ExpireAfter<K, V> = Box<dyn Fn(&K, &V) -> Option<Duration> + Send + Sync>;

/// How old a value already is when the map stores it, so that `refresh_after` counts from its
/// birth rather than its arrival: a value another process built arrives with an age. Not
/// public: only the fleet tier knows ages (see redis/shared.rs).
pub(crate) type Age<V> = Box<dyn Fn(&V) -> Duration + Send + Sync>;

/// Options for a [`TtlMap`], from [`TtlMap::builder`]; `build` becomes available once a ttl
/// is set.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Expiry, TtlMap};
///
/// let map: TtlMap<String, u64> = TtlMap::builder()
///     .ttl(Duration::from_secs(3600))
///     .expiry(Expiry::Sliding)
///     .sweep_every(Duration::from_secs(300))
///     .capacity(10_000)
///     .on_evict(|_key, _value, reason| eprintln!("dropped a client: {reason:?}"))
///     .build();
/// assert!(map.is_empty());
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<K, V, S = DefaultHashBuilder, T = Duration> {
    ttl: T,
    options: Options,
    hasher: S,
    listener: Option<Listener<K, V>>,
    expire_after: Option<ExpireAfter<K, V>>,
    _types: PhantomData<fn(K, V)>,
}

/// The options that do not depend on the map's types. Kept apart so that the code that reads
/// them (`TtlMap`'s construction) is compiled once, not once per key and value type.
pub(crate) struct Options {
    pub(crate) expiry: Expiry,
    pub(crate) sweep_every: Option<Duration>,
    pub(crate) capacity: Option<usize>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) clock: ClockSource,
    pub(crate) name: Option<&'static str>,
    /// Whether the map lists itself in `caches()` under its name; a shared map's L1 does not,
    /// its owner is listed instead.
    pub(crate) listed: bool,
}

impl Options {
    fn new() -> Self {
        Options {
            expiry: Expiry::default(),
            sweep_every: None,
            capacity: None,
            max_lifetime: None,
            refresh_after: None,
            stale_if_error: None,
            clock: ClockSource::system(),
            name: None,
            listed: true,
        }
    }
}

/// What [`Builder::build`] hands to the map: the builder, taken apart.
pub(crate) struct Parts<K, V, S> {
    pub(crate) ttl: Duration,
    pub(crate) options: Options,
    pub(crate) hasher: S,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) expire_after: Option<ExpireAfter<K, V>>,
    /// `None` from [`Builder`]: its values are born when stored.
    pub(crate) age: Option<Age<V>>,
}

impl<K, V> Builder<K, V, DefaultHashBuilder, NoTtl> {
    pub(crate) fn new() -> Self {
        Builder {
            ttl: NoTtl,
            options: Options::new(),
            hasher: DefaultHashBuilder::default(),
            listener: None,
            expire_after: None,
            _types: PhantomData,
        }
    }
}

impl<K, V, S, T> Builder<K, V, S, T> {
    /// How long an entry lives (since its last hit with [`Expiry::Sliding`], since it was
    /// stored with [`Expiry::Fixed`]). Durations too long to represent saturate.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<u32, u32> = TtlMap::builder().ttl(Duration::from_secs(30)).build();
    /// assert!(format!("{map:?}").contains("30s"));
    /// ```
    pub fn ttl(self, ttl: Duration) -> Builder<K, V, S, Duration> {
        Builder {
            ttl,
            options: self.options,
            hasher: self.hasher,
            listener: self.listener,
            expire_after: self.expire_after,
            _types: PhantomData,
        }
    }

    /// Sliding (the default) or fixed expiry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{Expiry, TtlMap};
    ///
    /// let map: TtlMap<u32, u32> = TtlMap::builder().ttl(Duration::from_secs(30)).expiry(Expiry::Fixed).build();
    /// assert!(format!("{map:?}").contains("Fixed"));
    /// ```
    pub fn expiry(mut self, expiry: Expiry) -> Self {
        self.options.expiry = expiry;
        self
    }

    /// Also remove expired entries in the background, every `interval` (at least 1 ms), on
    /// the one process-wide sweeper thread. Without it, expired entries are still never
    /// returned and are removed incrementally as new entries arrive.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<u32, u32> = TtlMap::builder()
    ///     .ttl(Duration::from_secs(3600))
    ///     .sweep_every(Duration::from_secs(300))
    ///     .build();
    /// assert!(map.is_empty());
    /// ```
    pub fn sweep_every(mut self, interval: Duration) -> Self {
        self.options.sweep_every = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// However often it is hit, an entry lives at most `max_lifetime` after it was stored:
    /// with [`Expiry::Sliding`], hits keep a used entry alive only up to this limit (an API
    /// client whose credentials rotate; Caffeine's `expireAfterAccess` with
    /// `expireAfterWrite`). With [`Expiry::Fixed`] the shorter of the two applies.
    ///
    /// The limits of this, of [`expire_after`](Self::expire_after) and of
    /// [`refresh_after`](Self::refresh_after) are kept by the key's hash: keys whose hashes are
    /// equal (a `Hash` that leaves out fields `Eq` compares makes them so) share the earlier
    /// of each, so such an entry may expire or be rebuilt early, never late.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{ManualClock, TtlMap};
    ///
    /// let clock = ManualClock::new();
    /// let map = TtlMap::builder()
    ///     .ttl(Duration::from_secs(60))
    ///     .max_lifetime(Duration::from_secs(150))
    ///     .clock(clock.clone())
    ///     .build();
    /// map.insert("client", 1);
    /// for _ in 0..2 {
    ///     clock.advance(Duration::from_secs(50));
    ///     assert_eq!(map.get("client"), Some(1)); // each hit slides the deadline
    /// }
    /// clock.advance(Duration::from_secs(50)); // 150 s since it was stored
    /// assert_eq!(map.get("client"), None);
    /// ```
    pub fn max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.options.max_lifetime = Some(max_lifetime);
        self
    }

    /// Rebuild a value this long after it was stored, without making callers wait: the first
    /// memoizing call (`get_or_insert_with` and its forms) that finds it older runs the
    /// constructor and gets the new value; every other caller meanwhile gets the current one
    /// at once. A refresh that fails (an error, `None`) keeps the current value, which the
    /// refreshing caller then gets unless it was removed or expired meanwhile (then it gets
    /// the error, or under [`stale_if_error`](Self::stale_if_error) the stale value), and is
    /// counted ([`Stats::refresh_failures`]); the next memoizing call tries again. A refresh
    /// that panics (in the constructor, or in `expire_after` before its value is stored) panics in
    /// its caller, keeps the value and is not counted. No executor is assumed: the refreshing
    /// caller runs the constructor, in the async forms too. `get` never refreshes; expiry is unchanged, so set
    /// `refresh_after` below the ttl (or `max_lifetime`) for values that should never go stale.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{ManualClock, TtlMap};
    ///
    /// let clock = ManualClock::new();
    /// let rates = TtlMap::builder()
    ///     .ttl(Duration::from_secs(3600))
    ///     .refresh_after(Duration::from_secs(60))
    ///     .clock(clock.clone())
    ///     .build();
    /// assert_eq!(rates.get_or_insert_with("EUR", || 1.07), 1.07);
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(rates.get_or_insert_with("EUR", || 1.09), 1.09); // rebuilt by this call
    /// clock.advance(Duration::from_secs(60));
    /// let kept = rates.try_get_or_insert_with("EUR", || Err::<f64, _>("upstream down"));
    /// assert_eq!(kept, Ok(1.09)); // the refresh failed: the current value is kept
    /// assert_eq!((rates.stats().refreshes, rates.stats().refresh_failures), (1, 1));
    /// ```
    ///
    /// [`Stats::refresh_failures`]: crate::Stats::refresh_failures
    pub fn refresh_after(mut self, refresh_after: Duration) -> Self {
        self.options.refresh_after = Some(refresh_after);
        self
    }

    /// When rebuilding an expired value fails (an error, `None`), give memoizing callers the
    /// last value instead if it expired less than `window` ago (counted in
    /// [`Stats::stale_served`]): a backend that is down does not take the cache down with it.
    /// `get` still never returns an expired value; a panicking constructor still panics.
    ///
    /// Memory: expired entries are then kept until the window is over too (sweeps and the
    /// bound on expired entries count from the end of the window), so a map holds the keys
    /// used within `ttl + window`, not `ttl`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{ManualClock, TtlMap};
    ///
    /// let clock = ManualClock::new();
    /// let quotes: TtlMap<String, u32> = TtlMap::builder()
    ///     .ttl(Duration::from_secs(60))
    ///     .stale_if_error(Duration::from_secs(600))
    ///     .clock(clock.clone())
    ///     .build();
    /// quotes.insert("ACME".into(), 101);
    /// clock.advance(Duration::from_secs(90)); // expired 30 s ago
    /// assert_eq!(quotes.get("ACME"), None);
    /// let quote = quotes.try_get_or_insert_with("ACME", || Err::<u32, _>("upstream down"));
    /// assert_eq!(quote, Ok(101)); // the stale value, not the error
    /// assert_eq!(quotes.stats().stale_served, 1);
    /// ```
    ///
    /// [`Stats::stale_served`]: crate::Stats::stale_served
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.options.stale_if_error = Some(window);
        self
    }

    /// Let each value declare a shorter life when it is stored: `life(key, value)` returns
    /// how long it may live at most (an OAuth access token's `expires_in`), or `None` for
    /// no limit of its own. The map's ttl, expiry and [`max_lifetime`](Self::max_lifetime)
    /// still apply; the earliest limit wins. It runs once per value about to be stored (never
    /// on a hit; also for a value that an invalidation then keeps out), before the shard's
    /// lock is taken, so it may use this map. If it panics, the value is not stored and the
    /// panic goes on in the call that stores; the waiters of a memoizing call still get the
    /// value.
    ///
    /// Rust infers a closure's parameter types where the closure is written, before `build`
    /// tells it the map's types: name them in the closure, as below, or name the map's types
    /// up front, `TtlMap::<String, Token>::builder()`, and write `|_, token| ...`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{ManualClock, TtlMap};
    ///
    /// #[derive(Clone)]
    /// struct Token { secret: &'static str, expires_in: Duration }
    ///
    /// let clock = ManualClock::new();
    /// let tokens = TtlMap::builder()
    ///     .ttl(Duration::from_secs(3600))
    ///     .expire_after(|_tenant: &&str, token: &Token| Some(token.expires_in))
    ///     .clock(clock.clone())
    ///     .build();
    /// tokens.insert("acme", Token { secret: "t1", expires_in: Duration::from_secs(300) });
    /// clock.advance(Duration::from_secs(299));
    /// assert!(tokens.get("acme").is_some());
    /// clock.advance(Duration::from_secs(1));
    /// assert!(tokens.get("acme").is_none()); // the token's own life, not the hour
    ///
    /// // The types named up front, the closure's inferred; 30 s of margin before `expires_in`.
    /// let margin = Duration::from_secs(30);
    /// let by_tenant = TtlMap::<String, Token>::builder()
    ///     .ttl(Duration::from_secs(3600))
    ///     .expire_after(move |_, token| Some(token.expires_in.saturating_sub(margin)))
    ///     .clock(clock.clone())
    ///     .build();
    /// by_tenant.insert("acme".into(), Token { secret: "t2", expires_in: Duration::from_secs(300) });
    /// clock.advance(Duration::from_secs(270));
    /// assert!(by_tenant.get("acme").is_none());
    /// ```
    pub fn expire_after(
        mut self,
        life: impl Fn(&K, &V) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.expire_after = Some(Box::new(life));
        self
    }

    /// Keep at most `capacity` entries. Beyond it the entry that would expire soonest goes:
    /// with sliding expiry the least recently used, with fixed expiry the oldest. Exact while
    /// a shard holds at most 64 entries (capacities up to 64 use one shard), sampled among 64
    /// entries beyond.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::builder().ttl(Duration::from_secs(60)).capacity(2).build();
    /// for i in 0..5 {
    ///     map.insert(i, i);
    /// }
    /// assert_eq!(map.len(), 2);
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.options.capacity = Some(capacity);
        self
    }

    /// Read time from `clock` instead of the default: the coarse monotonic clock on Linux
    /// (`CLOCK_MONOTONIC_COARSE`, a few milliseconds of precision), `Instant` elsewhere.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{ManualClock, TtlMap};
    ///
    /// let clock = ManualClock::new();
    /// let map = TtlMap::builder().ttl(Duration::from_secs(60)).clock(clock.clone()).build();
    /// map.insert("a", 1);
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(map.get("a"), None);
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.options.clock = ClockSource::Custom(std::sync::Arc::new(clock));
        self
    }

    /// Call `listener` with every entry that leaves the map, and why, outside the map's locks.
    /// Entries still held when the map's last handle is dropped go with it unheard.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use cache_core::{Reason, TtlMap};
    ///
    /// let heard = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&heard);
    /// let map = TtlMap::builder()
    ///     .ttl(Duration::from_secs(60))
    ///     .on_evict(move |_key: &&str, value: &u32, reason| log.lock().unwrap().push((*value, reason)))
    ///     .build();
    /// map.insert("a", 1);
    /// map.remove("a");
    /// assert_eq!(*heard.lock().unwrap(), [(1, Reason::Removed)]);
    /// ```
    pub fn on_evict(mut self, listener: impl Fn(&K, &V, Reason) + Send + Sync + 'static) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    /// Names the map: it is then listed by [`caches`](crate::caches), for exporting every
    /// cache's counters or clearing them in bulk, and its `Debug` shows the name.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u32> =
    ///     TtlMap::builder().ttl(Duration::from_secs(60)).name("openai_clients").build();
    /// assert!(format!("{map:?}").contains("openai_clients"));
    /// ```
    pub fn name(mut self, name: &'static str) -> Self {
        self.options.name = Some(name);
        self
    }

    /// Hash keys with `hasher` instead of the default seeded one.
    ///
    /// ```
    /// use std::hash::BuildHasherDefault;
    /// use std::collections::hash_map::DefaultHasher;
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// // A fixed (unseeded) hasher: only for keys no attacker chooses.
    /// let map = TtlMap::builder()
    ///     .ttl(Duration::from_secs(60))
    ///     .hasher(BuildHasherDefault::<DefaultHasher>::default())
    ///     .build();
    /// map.insert(1u32, "one");
    /// assert_eq!(map.get(&1), Some("one"));
    /// ```
    pub fn hasher<S2>(self, hasher: S2) -> Builder<K, V, S2, T> {
        Builder {
            ttl: self.ttl,
            options: self.options,
            hasher,
            listener: self.listener,
            expire_after: self.expire_after,
            _types: PhantomData,
        }
    }
}

/// A builder's ttl once [`Builder::ttl`] has set it: what `build` asks for, so that calling
/// it too early gets a message that says what to do (implemented for `Duration` only).
///
/// ```
/// use std::time::Duration;
/// use cache_core::TtlSet;
///
/// assert_eq!(Duration::from_secs(5).duration(), Duration::from_secs(5));
/// ```
#[diagnostic::on_unimplemented(
    message = "a `TtlMap` needs a ttl: call `.ttl(...)` before `.build()`",
    label = "no ttl set on this builder yet",
    note = "e.g. `TtlMap::builder().ttl(Duration::from_secs(3600)).build()`"
)]
pub trait TtlSet: sealed::Sealed {
    /// The ttl.
    fn duration(&self) -> Duration;
}

impl TtlSet for Duration {
    fn duration(&self) -> Duration {
        *self
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::time::Duration {}
}

impl<K, V, S, T> Builder<K, V, S, T> {
    /// Builds the map (and schedules it on the sweeper if `sweep_every` was set).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u32> = TtlMap::builder().ttl(Duration::from_secs(60)).build();
    /// assert!(map.is_empty());
    /// ```
    #[must_use = "a map dropped at once caches nothing"]
    pub fn build(self) -> TtlMap<K, V, S>
    where
        T: TtlSet,
        K: Hash + Eq + Send + Sync + 'static,
        V: Send + Sync + 'static,
        S: BuildHasher + Send + Sync + 'static,
    {
        TtlMap::from_parts(Parts {
            ttl: self.ttl.duration(),
            options: self.options,
            hasher: self.hasher,
            listener: self.listener,
            expire_after: self.expire_after,
            age: None,
        })
    }
}

impl<K, V, S> Builder<K, V, S, Duration> {
    /// The options as `TtlMap::from_parts` takes them.
    pub(crate) fn into_parts(self) -> Parts<K, V, S> {
        Parts {
            ttl: self.ttl,
            options: self.options,
            hasher: self.hasher,
            listener: self.listener,
            expire_after: self.expire_after,
            age: None,
        }
    }
}

impl<K, V, S, T: fmt::Debug> fmt::Debug for Builder<K, V, S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("ttl", &self.ttl)
            .field("expiry", &self.options.expiry)
            .field("sweep_every", &self.options.sweep_every)
            .field("capacity", &self.options.capacity)
            .field("max_lifetime", &self.options.max_lifetime)
            .field("refresh_after", &self.options.refresh_after)
            .field("stale_if_error", &self.options.stale_if_error)
            .field("expire_after", &self.expire_after.is_some())
            .field("clock", &self.options.clock)
            .finish_non_exhaustive()
    }
}
