//! Conditional memoization and conditional ttl through `cfg_attr`, as a feature flag would.
use cache_core::ttl_cached;

#[cfg_attr(all(), ttl_cached(ttl = "1s", cache = short_cache))]
#[cfg_attr(any(), ttl_cached(ttl = "1h", cache = short_cache))]
fn short(key: u32) -> u32 {
    key
}

#[cfg_attr(any(), ttl_cached(ttl = "1h"))]
fn not_cached(key: u32) -> u32 {
    key
}

fn main() {
    assert_eq!(short(1), 1);
    assert_eq!(short_cache().len(), 1);
    assert_eq!(not_cached(1), 1);
}
