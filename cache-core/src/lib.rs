//! Memoize expensive per-key constructors with a TTL, with memory bounded by the keys in use.
//!
//! The headline is one attribute, [`#[ttl_cached]`](macro@ttl_cached) (default feature
//! `macros`): it turns a function into a memoized one with the same signature, whose entries
//! expire after a time to live, so a map of per-tenant clients forgets tenants that went quiet.
//!
//! ```
//! use std::sync::Arc;
//! use cache_core::ttl_cached;
//!
//! # struct Client { api_key: String }
//! #[ttl_cached(ttl = "1h", sweep = "5m")]
//! pub fn get_or_create_client(api_key: &str) -> Arc<Client> {
//!     Arc::new(Client { api_key: api_key.to_string() }) // runs once per key per hour of use
//! }
//!
//! assert!(Arc::ptr_eq(&get_or_create_client("sk-a"), &get_or_create_client("sk-a")));
//! ```
//!
//! Under it is [`TtlMap`], a concurrent map whose entries expire after a time to live, sliding
//! (every hit extends it) or fixed, usable directly:
//!
//! ```
//! use std::time::Duration;
//! use cache_core::TtlMap;
//!
//! #[derive(Clone)]
//! struct Client {
//!     api_key: String,
//! }
//!
//! let clients: TtlMap<String, Client> = TtlMap::builder()
//!     .ttl(Duration::from_secs(3600))
//!     .sweep_every(Duration::from_secs(300))
//!     .build();
//! let client = clients.get_or_insert_with("sk-tenant-a", || Client { api_key: "sk-tenant-a".into() });
//! assert_eq!(client.api_key, "sk-tenant-a");
//! assert_eq!(clients.len(), 1);
//! ```
//!
//! Pick something else when the job is different: [moka](https://docs.rs/moka) for a cache
//! bounded by weighted size with frequency-aware (TinyLFU) admission, or with per-entry expiry
//! computed on every read and write; [quick_cache](https://docs.rs/quick_cache) for the
//! fastest size-bounded cache when entries need no time to live.
//!
//! # Features
//!
//! - `macros` (default): the [`#[ttl_cached]`](macro@ttl_cached) attribute.
//! - `tracing`: `DEBUG` events (target `cache_core`) for constructions with their duration,
//!   failed constructions, entries removed for their ttl or the capacity, and sweeps; each
//!   names its cache ([`Builder::name`]; the attribute names its map after the function) and
//!   never shows a key or a value.
//! - `redis`: [the fleet tier](crate::redis), a second tier on Redis (a server or a cluster)
//!   shared by every process of a service, with a fleet-wide single flight and invalidation;
//!   `#[ttl_cached(ttl = "1h", shared = tier)]` on an `async fn`. Off by default: without it
//!   nothing of Redis, Tokio or serde is built.
//!
//! # Guarantees
//!
//! - An expired entry is never returned, whether or not it has been removed yet, and no reader
//!   delayed between its clock read and its lookup extends an entry that has expired.
//! - Memory stays bounded without any background thread: `len()` never exceeds the live
//!   entries, plus 1/32 of them, plus 16 per shard, plus one per thread writing at that moment,
//!   after bursts too. [`Builder::sweep_every`] adds a periodic sweep on one process-wide
//!   thread for all maps.
//! - With a capacity, nothing is evicted while fewer entries are held, and `len()` stays within
//!   it whenever no write is in progress.
//! - A hit takes no lock another reader contends for, reads the clock once (a miss's lookup
//!   reads none), allocates nothing
//!   and writes the entry at most once per ttl/64 (a sliding hit that moves the deadline reads
//!   the clock a second time first, so that a reader delayed since its first reading cannot
//!   extend an entry that has expired).
//! - Single flight: concurrent misses of one key run one constructor; every waiter takes its
//!   outcome from the flight. A failed flight never makes callers queue: a shareable error
//!   reaches every waiter, otherwise each tries at once. No lock is held while a constructor
//!   runs. `insert`, `remove`, `clear` and `retain` win over a flight in progress when they are
//!   called: it does not store its value (`clear` and `retain` go shard by shard, so a flight
//!   that starts while they are still going may).
//! - Keys are hashed with aHash under a random key per map, so keys an attacker sends
//!   cannot be chosen to collide without knowing it.
//! - Nothing in user code (a listener, a key's `Hash` or `Eq`, a value's `Drop`) can wedge a
//!   shard, leave `clear` half done, stop the sweeper thread or abort the process.
//! - `Debug` never shows keys or values.
//!
//! What the map cannot protect against: a key's `Hash`, `Eq` and `Clone` (or the `ToOwned`
//! that makes a key from what was looked up), a value's `Clone`, a [`Clock`] and a `retain`
//! predicate run while a shard's lock is held, so they must not use the same map (that could
//! wait for itself; a `retain` predicate that asks for its own shard panics instead).
//! Listeners, constructors, `expire_after` and `Drop`s run with no lock held and may use it
//! freely.

// Without the feature `macros` the attribute the crate docs link to is not there.
#![cfg_attr(not(feature = "macros"), allow(rustdoc::broken_intra_doc_links))]
#![deny(unsafe_code)] // allowed in `sharded_lock.rs` alone, each block with its argument
#![warn(unreachable_pub)]

#[cfg(doctest)]
mod api_checks;
mod builder;
mod clock;
mod deadlock;
mod erased;
mod flight;
mod forecast;
mod key;
mod map;
mod memo;
mod payload;
#[cfg(feature = "redis")]
pub mod redis;
mod registry;
mod shard;
mod sharded_lock;
mod stats;
mod sweep;
mod sweeper;
mod sync;
mod thread_slot;
mod trace;

pub use builder::{Builder, Expiry, NoTtl, TtlSet};
pub use clock::{Clock, ManualClock};
pub use key::{Equivalent, Lookup, OptionRef, TupleRef};
pub use map::{Iter, TtlMap};
pub use registry::{Cache, caches};
pub use stats::Stats;

/// Memoizes a function with a TTL, keeping its exact signature.
///
/// ```
/// use std::sync::Arc;
/// use cache_core::ttl_cached;
///
/// # #[derive(Clone)] struct Client { key: String }
/// #[ttl_cached(ttl = "1h", sweep = "5m", cache = clients)]
/// pub fn get_or_create_client(api_key: &str) -> Arc<Client> {
///     Arc::new(Client { key: api_key.to_string() })
/// }
///
/// let a = get_or_create_client("sk-tenant-a");
/// assert!(Arc::ptr_eq(&a, &get_or_create_client("sk-tenant-a"))); // a hit: the same client
/// assert_eq!(clients().stats().misses, 1);
/// clients().remove("sk-tenant-a"); // the handle `cache = clients` asked for
/// ```
///
/// | option | value | default | meaning |
/// |---|---|---|---|
/// | `ttl` | duration literal (`"1h"`, `"90s"`, `"1h 30m"`, `"250ms"`) or an expression of type `Duration`, evaluated once | required | entry lifetime |
/// | `sweep` | duration literal or expression, or `"off"` | off | background sweep interval |
/// | `expiry` | `"sliding"` or `"fixed"` | `"sliding"` | see [`Expiry`] |
/// | `max_lifetime` | duration literal or expression | none | most an entry lives, however often hit (see [`Builder::max_lifetime`]) |
/// | `expire_after` | closure `\|&K, &V\| -> Option<Duration>` | none | a value's own shorter life (see [`Builder::expire_after`]) |
/// | `refresh_after` | duration literal or expression | none | rebuild a value this old without making callers wait (see [`Builder::refresh_after`]) |
/// | `stale_if_error` | duration literal or expression | none | serve the last value this long after expiry when rebuilding fails (see [`Builder::stale_if_error`]) |
/// | `capacity` | integer or `usize` expression | unbounded | most entries kept (see [`Builder::capacity`]) |
/// | `name` | string literal or `&'static str` expression | the function's path | the map's name (see [`caches`] and [`Builder::name`]) |
/// | `key` | `key: Type = expr` | all arguments | custom key |
/// | `cache` | identifier (`Self::name` in an `impl`) | none | also generate `fn name() -> &'static TtlMap<K, V>` (`Shared<K, V>` with `shared`) |
/// | `shared` | expression of type `redis::RedisTier` (or a reference to one), evaluated once | none | feature `redis`, `async fn` only: values are also kept in Redis and built once for every process; they must be `Serialize + DeserializeOwned`, keys `Serialize` (see the `redis` module) |
/// | `clock` | expression of a [`Clock`] type | the coarse monotonic clock on Linux, `Instant` elsewhere | e.g. a [`ManualClock`] in tests |
/// | `crate` | path string | `"::cache_core"` | where the runtime lives |
///
/// Keys: `x: &T` keys by `T::Owned`, `Option<&T>` by `Option<T::Owned>`, an owned `x: T` by a
/// clone of it, several arguments by their tuple, none by `()`. A hit with borrowed arguments
/// allocates nothing. `async fn` is supported; a `Result` return caches only `Ok`, an `Option`
/// only `Some`. Concurrent misses of one key run the body once (see
/// [`TtlMap::get_or_insert_with`]).
///
/// ```
/// use std::time::Duration;
/// use cache_core::{ManualClock, ttl_cached};
///
/// static CLOCK: std::sync::LazyLock<ManualClock> = std::sync::LazyLock::new(ManualClock::new);
///
/// #[ttl_cached(ttl = "10m", clock = CLOCK.clone())]
/// fn parse_port(text: &str) -> Result<u16, std::num::ParseIntError> {
///     text.parse()
/// }
///
/// assert!(parse_port("http").is_err()); // not cached: the next call tries again
/// assert_eq!(parse_port("8080"), Ok(8080));
/// CLOCK.advance(Duration::from_secs(600)); // expired: the next call runs the body again
/// assert_eq!(parse_port("8080"), Ok(8080));
/// ```
#[cfg(feature = "macros")]
pub use cache_macros::ttl_cached;

/// The default hasher: aHash, randomly keyed per map, which its authors call "DOS resistant":
/// keys an attacker chooses (API keys arriving in requests) cannot be made to collide without
/// knowing the key. It is not a cryptographic hash; for std's SipHash-1-3 (a keyed
/// pseudorandom function, about 20 ns slower a hit on 51-byte keys) pass
/// `std::collections::hash_map::RandomState` to [`Builder::hasher`].
///
/// ```
/// use std::time::Duration;
/// use cache_core::{DefaultHashBuilder, TtlMap};
///
/// let map: TtlMap<String, u32, DefaultHashBuilder> = TtlMap::new(Duration::from_secs(60));
/// assert!(map.is_empty());
/// ```
pub type DefaultHashBuilder = ahash::RandomState;

/// Why an entry left a map, as told to an [`on_evict`](Builder::on_evict) listener.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cache_core::{Reason, TtlMap};
///
/// let evicted = Arc::new(AtomicUsize::new(0));
/// let count = Arc::clone(&evicted);
/// let map = TtlMap::builder()
///     .ttl(Duration::from_secs(60))
///     .capacity(1)
///     .on_evict(move |_: &u32, _: &u32, reason| {
///         if reason == Reason::Capacity {
///             count.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .build();
/// map.insert(1, 1);
/// map.insert(2, 2);
/// assert_eq!(evicted.load(Ordering::Relaxed), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Its time to live ran out.
    Expired,
    /// It made room for another entry within the capacity.
    Capacity,
    /// `remove`, `clear` or `retain` took it out (an expired entry that `remove` or `retain`
    /// takes out is heard as `Expired`; `clear` reports every entry as `Removed`).
    Removed,
    /// `insert` stored another value under its key.
    Replaced,
}

impl Reason {
    /// The reason in lower case, as metrics label it: `"expired"`, `"capacity"`, `"removed"`
    /// or `"replaced"` (also what `Display` shows).
    ///
    /// ```
    /// use cache_core::Reason;
    ///
    /// assert_eq!(Reason::Capacity.as_str(), "capacity");
    /// assert_eq!(Reason::Expired.to_string(), "expired");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::Capacity => "capacity",
            Reason::Removed => "removed",
            Reason::Replaced => "replaced",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// The striped lock itself, for its schedule tests (`tests/shuttle_lock.rs`); not an API.
#[cfg(feature = "shuttle")]
#[doc(hidden)]
pub use sharded_lock::ShuttleProbe as __ShardedLock;

// What `#[ttl_cached]` expands to; its own file, so the macro and the map evolve apart.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
