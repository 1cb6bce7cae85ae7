//! Names starting with `__TTL_CACHED` / `__TtlCached` are the attribute's own: its static,
//! constants and type aliases live in the function's body, where they shadow a user item of
//! the same name (a known limit, documented here; such names are reserved by convention).
use cache_core::ttl_cached;

#[allow(non_upper_case_globals)]
static __TTL_CACHED: u32 = 7;

#[allow(non_camel_case_types)]
type __TtlCachedValue = u64;

#[ttl_cached(ttl = "1h")]
fn reads_static(key: u32) -> u32 {
    key + __TTL_CACHED
}

#[ttl_cached(ttl = "1h")]
fn reads_alias(key: u32) -> u64 {
    let widened: __TtlCachedValue = u64::from(key);
    widened
}

fn main() {
    assert_eq!(reads_static(1), 8);
    assert_eq!(reads_alias(1), 1);
}
