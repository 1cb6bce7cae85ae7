//! With `cache = name`, an option that reads a destructured parameter's binding gets the
//! message a plain parameter gets, not a bare "cannot find value".
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = Duration::from_secs(secs), key: u32 = id, cache = tuple_cache)]
pub fn by_tuple((id, secs): (u32, u64)) -> u64 {
    u64::from(id) + secs
}

fn main() {
    assert_eq!(by_tuple((1, 2)), 3);
    let _ = tuple_cache();
}
