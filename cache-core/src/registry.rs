//! Named maps: every live map built with [`Builder::name`](crate::Builder::name), so that a
//! service can export all its caches' counters or clear them in bulk.
//!
//! The registry holds maps by `Weak` reference only: a dropped map drops out of it.

use std::fmt;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::Stats;

/// What the registry can do with a map, whatever its key and value types.
pub(crate) trait Named: Send + Sync {
    fn stats(&self) -> Stats;
    fn len(&self) -> usize;
    fn clear(&self);
    fn reset_stats(&self);
}

static REGISTRY: Mutex<Vec<(&'static str, Weak<dyn Named>)>> = Mutex::new(Vec::new());

pub(crate) fn register(name: &'static str, map: Weak<dyn Named>) {
    let mut registry = REGISTRY.lock();
    registry.retain(|(_, m)| m.strong_count() > 0);
    registry.push((name, map));
}

/// Every live map that was built with a name, in the order they were built.
///
/// ```
/// use std::fmt::Write;
/// use std::time::Duration;
/// use cache_core::TtlMap;
///
/// let clients: TtlMap<String, u32> =
///     TtlMap::builder().ttl(Duration::from_secs(60)).name("clients").build();
/// clients.get_or_insert_with("k", || 1);
///
/// // A Prometheus text export of every named cache.
/// let mut out = String::new();
/// for cache in cache_core::caches() {
///     let (name, stats) = (cache.name(), cache.stats());
///     writeln!(out, "cache_hits_total{{cache=\"{name}\"}} {}", stats.hits).unwrap();
///     writeln!(out, "cache_misses_total{{cache=\"{name}\"}} {}", stats.misses).unwrap();
///     writeln!(out, "cache_entries{{cache=\"{name}\"}} {}", cache.len()).unwrap();
/// }
/// assert!(out.contains("cache_misses_total{cache=\"clients\"} 1"));
/// ```
#[must_use]
pub fn caches() -> Vec<Cache> {
    let mut registry = REGISTRY.lock();
    registry.retain(|(_, m)| m.strong_count() > 0);
    let live = registry
        .iter()
        .filter_map(|(name, m)| Some((*name, m.upgrade()?)));
    live.map(|(name, map)| Cache { name, map }).collect()
}

/// A named map, as [`caches`] lists it: its name, counters and size, and a way to clear it.
#[derive(Clone)]
pub struct Cache {
    name: &'static str,
    map: Arc<dyn Named>,
}

impl Cache {
    /// The name the map was built with.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let _map: TtlMap<u8, u8> = TtlMap::builder().ttl(Duration::from_secs(1)).name("ports").build();
    /// assert!(cache_core::caches().iter().any(|c| c.name() == "ports"));
    /// ```
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The map's counters (see [`TtlMap::stats`](crate::TtlMap::stats)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<u8, u8> = TtlMap::builder().ttl(Duration::from_secs(1)).name("a").build();
    /// map.get(&1);
    /// let cache = cache_core::caches().into_iter().find(|c| c.name() == "a").unwrap();
    /// assert_eq!(cache.stats().misses, 1);
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.map.stats()
    }

    /// The map's entries (see [`TtlMap::len`](crate::TtlMap::len)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::builder().ttl(Duration::from_secs(1)).name("b").build();
    /// map.insert(1u8, 1u8);
    /// let cache = cache_core::caches().into_iter().find(|c| c.name() == "b").unwrap();
    /// assert_eq!(cache.len(), 1);
    /// assert!(!cache.is_empty());
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map holds no entries.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let _map: TtlMap<u8, u8> = TtlMap::builder().ttl(Duration::from_secs(1)).name("c").build();
    /// let cache = cache_core::caches().into_iter().find(|c| c.name() == "c").unwrap();
    /// assert!(cache.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry (see [`TtlMap::clear`](crate::TtlMap::clear)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::builder().ttl(Duration::from_secs(1)).name("d").build();
    /// map.insert(1u8, 1u8);
    /// cache_core::caches().iter().filter(|c| c.name() == "d").for_each(|c| c.clear());
    /// assert!(map.is_empty());
    /// ```
    pub fn clear(&self) {
        self.map.clear();
    }

    /// Sets the map's counters to zero (see [`TtlMap::reset_stats`](crate::TtlMap::reset_stats)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<u8, u8> = TtlMap::builder().ttl(Duration::from_secs(1)).name("e").build();
    /// map.get(&1);
    /// cache_core::caches().iter().filter(|c| c.name() == "e").for_each(|c| c.reset_stats());
    /// assert_eq!(map.stats().misses, 0);
    /// ```
    pub fn reset_stats(&self) {
        self.map.reset_stats();
    }
}

/// Shows the name and the number of entries, never a key or a value.
impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.name)
            .field("len", &self.len())
            .finish()
    }
}
