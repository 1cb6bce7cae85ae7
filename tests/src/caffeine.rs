use std::time::Duration;

use cache_core::{Expiry, ManualClock, Reason, TtlMap};

use crate::heard::{Heard, recorder};

/// Caffeine's `Population.FULL` in miniature: keys 1..=10 with values -k.
pub fn populate(map: &TtlMap<i32, i32>) {
    for k in 1..=10 {
        map.insert(k, -k);
    }
}

/// A map with a one-minute `expiry` on `clock` and a recorder, populated (see [`populate`]).
pub fn full(expiry: Expiry, clock: &ManualClock) -> (TtlMap<i32, i32>, Heard<i32, i32>) {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .expiry(expiry)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    populate(&map);
    (map, heard)
}

/// What a listener hears of `keys` of the population when they expire.
pub fn expired(keys: impl IntoIterator<Item = i32>) -> Vec<(i32, i32, Reason)> {
    keys.into_iter().map(|k| (k, -k, Reason::Expired)).collect()
}
