//! `#[expect(dead_code)]` and `#[allow(dead_code)]` on a function that nothing calls, with a
//! `cache = name` handle that nothing calls either: the expectation is fulfilled and nothing
//! else is reported, under `#![deny(warnings)]`.
#![deny(warnings)]
use cache_core::ttl_cached;

#[expect(dead_code, reason = "kept for later")]
#[ttl_cached(ttl = "1h", cache = expected_cache)]
fn expected(key: u32) -> u32 {
    key
}

#[allow(dead_code)]
#[ttl_cached(ttl = "1h", cache = allowed_cache)]
fn allowed(key: u32) -> u32 {
    key
}

fn main() {}
