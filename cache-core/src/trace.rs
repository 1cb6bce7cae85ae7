//! Events for [`tracing`](https://docs.rs/tracing), with the feature `tracing`: constructions
//! (with their duration), failed constructions, entries that left a map, and sweeps. Each
//! carries the map's name (`Builder::name`; the macro names its map after the function) and
//! never a key or a value: keys are often secrets. Target `cache_core`, level `DEBUG`.
//!
//! Without the feature every function here is empty and [`Started`] holds nothing, so the map
//! pays nothing for them.

use crate::stats::Tally;

/// When a flight's constructor started, kept with the flight for its duration (empty without
/// the feature).
#[derive(Clone, Copy)]
pub(crate) struct Started {
    #[cfg(feature = "tracing")]
    at: std::time::Instant,
}

/// Now, for a constructor that starts.
#[inline]
pub(crate) fn started() -> Started {
    Started {
        #[cfg(feature = "tracing")]
        at: std::time::Instant::now(),
    }
}

/// The name an event shows for a map built without one.
#[cfg(feature = "tracing")]
fn name(cache: Option<&'static str>) -> &'static str {
    cache.unwrap_or("unnamed")
}

/// A flight's constructor made its value.
#[allow(unused_variables)]
pub(crate) fn constructed(cache: Option<&'static str>, started: Started) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "cache_core",
        cache = name(cache),
        elapsed_us = started.at.elapsed().as_micros() as u64,
        "value constructed"
    );
}

/// A flight's constructor did not make a value: `how` is `"error"`, `"panic"` or
/// `"abandoned"` (its future was dropped).
#[allow(unused_variables)]
pub(crate) fn failed(cache: Option<&'static str>, started: Started, how: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "cache_core",
        cache = name(cache),
        elapsed_us = started.at.elapsed().as_micros() as u64,
        how,
        "construction failed"
    );
}

/// Entries left the map for its ttl or its capacity.
#[allow(unused_variables)]
pub(crate) fn removed(cache: Option<&'static str>, tally: Tally) {
    #[cfg(feature = "tracing")]
    if tally.expired + tally.evicted > 0 {
        tracing::debug!(
            target: "cache_core",
            cache = name(cache),
            expired = tally.expired as u64,
            evicted = tally.evicted as u64,
            "entries removed"
        );
    }
}

/// A sweep of the whole map (`sweep()`, or the background sweeper) removed `swept` entries.
#[allow(unused_variables)]
pub(crate) fn swept(cache: Option<&'static str>, swept: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "cache_core", cache = name(cache), swept = swept as u64, "map swept");
}
