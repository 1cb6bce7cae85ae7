//! The generated `static __TTL_CACHED` (and consts/type aliases) are visible to the body:
//! a user item of that name is shadowed inside the cached function.
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
