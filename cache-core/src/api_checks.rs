//! Doctests only (`cfg(doctest)`): checks of the public API that no example in the docs
//! would make, kept out of the rendered documentation.

/// `#[must_use]` on pure getters, constructors and `build`: a result that is dropped at once is a mistake.
///
/// Every call below compiles once its result is used, under `deny(unused_must_use)`:
///
/// ```
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// let _ = TtlMap::<u8, u8>::new(Duration::from_secs(60));
/// let _ = map.len();
/// let _ = map.is_empty();
/// let _ = map.stats();
/// let _ = map.iter();
/// let _ = TtlMap::<u8, u8>::builder().ttl(Duration::from_secs(60)).build();
/// let _ = ManualClock::new();
/// let _ = cache_core::caches();
/// if let Some(c) = &cache { let _ = c.name(); }
/// if let Some(c) = &cache { let _ = c.stats(); }
/// if let Some(c) = &cache { let _ = c.len(); }
/// if let Some(c) = &cache { let _ = c.is_empty(); }
/// ```
///
/// `TtlMap::new`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// TtlMap::<u8, u8>::new(Duration::from_secs(60));
/// ```
///
/// `TtlMap::len`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// map.len();
/// ```
///
/// `TtlMap::is_empty`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// map.is_empty();
/// ```
///
/// `TtlMap::stats`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// map.stats();
/// ```
///
/// `TtlMap::iter (the Iter type)`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// map.iter();
/// ```
///
/// `Builder::build`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// TtlMap::<u8, u8>::builder().ttl(Duration::from_secs(60)).build();
/// ```
///
/// `ManualClock::new`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// ManualClock::new();
/// ```
///
/// `caches`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// cache_core::caches();
/// ```
///
/// `Cache::name`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// if let Some(c) = &cache { c.name(); }
/// ```
///
/// `Cache::stats`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// if let Some(c) = &cache { c.stats(); }
/// ```
///
/// `Cache::len`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// if let Some(c) = &cache { c.len(); }
/// ```
///
/// `Cache::is_empty`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
/// let map: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let cache = cache_core::caches().into_iter().next();
/// if let Some(c) = &cache { c.is_empty(); }
/// ```
pub struct MustUse;

/// `#[must_use]` in the fleet tier: a tier's settings return a new tier (ignoring one loses the setting), and its getters are pure.
///
/// Every call below compiles once its result is used, under `deny(unused_must_use)`:
///
/// ```
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// let _ = tier.clone().namespace("a");
/// let _ = tier.clone().version(2);
/// let _ = tier.clone().secret([0; 32]);
/// let _ = tier.clone().timeout(Duration::from_secs(1));
/// let _ = tier.clone().lease(Duration::from_secs(1));
/// let _ = tier.is_degraded();
/// let _ = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// let _ = shared.len();
/// let _ = shared.is_empty();
/// let _ = shared.stats();
/// let _ = shared.fleet_stats();
/// let _ = shared.tier();
/// ```
///
/// `RedisTier::namespace`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// tier.clone().namespace("a");
/// ```
///
/// `RedisTier::version`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// tier.clone().version(2);
/// ```
///
/// `RedisTier::secret`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// tier.clone().secret([0; 32]);
/// ```
///
/// `RedisTier::timeout`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// tier.clone().timeout(Duration::from_secs(1));
/// ```
///
/// `RedisTier::lease`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// tier.clone().lease(Duration::from_secs(1));
/// ```
///
/// `RedisTier::is_degraded`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// tier.is_degraded();
/// ```
///
/// `SharedBuilder::build`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// ```
///
/// `Shared::len`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// shared.len();
/// ```
///
/// `Shared::is_empty`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// shared.is_empty();
/// ```
///
/// `Shared::stats`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// shared.stats();
/// ```
///
/// `Shared::fleet_stats`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// shared.fleet_stats();
/// ```
///
/// `Shared::tier`: ignoring its result does not compile.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use std::time::Duration;
/// use cache_core::TtlMap;
/// use cache_core::redis::RedisTier;
/// let tier = RedisTier::new("redis://127.0.0.1:6379/").unwrap();
/// let shared = TtlMap::<String, u8>::builder().ttl(Duration::from_secs(60)).shared(tier.clone()).build();
/// shared.tier();
/// ```
#[cfg(feature = "redis")]
pub struct MustUseRedis;
